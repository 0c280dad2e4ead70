"""`python -m cascade_tool`: the same command line as `cascade-tool`."""

from cascade_tool.cli import main

if __name__ == "__main__":
    main()
