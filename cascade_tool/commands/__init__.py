"""Click commands beyond the core ones, one module per area; registered in cascade_tool/cli.py.

Each module exposes click command objects. Like the core commands they parse, make one library
call and print; library code lives in cascade_tool/<area>.py, never here.
"""
