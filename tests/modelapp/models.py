"""The test application's models with the fixes `cascade-tool check-models` printed for before.py.

Each ForeignKey carries the manifest's `ondelete` and the database's own `onupdate`,
`deferrable` and `initially`, so `alembic check` finds nothing to change after the cascade-tool
revision. Parent-side relationships over CASCADE FKs use `cascade="all, delete-orphan",
passive_deletes=True`; over SET NULL FKs, the default cascade with `passive_deletes=True`. The ORM
then leaves the children to the database: deleting a user is one DELETE statement.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(Text, unique=True)

    chat_sessions: Mapped[list[ChatSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    appointments: Mapped[list[Appointment]] = relationship(
        foreign_keys="Appointment.patient_id", back_populates="patient",
        cascade="all, delete-orphan", passive_deletes=True,
    )
    doctor_appointments: Mapped[list[Appointment]] = relationship(
        foreign_keys="Appointment.doctor_id", back_populates="doctor", passive_deletes=True
    )
    lifestyle: Mapped[UserLifestyle | None] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    feedback: Mapped[list[Feedback]] = relationship(back_populates="user", passive_deletes=True)


class ChatSession(Base):
    __tablename__ = "chat_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship(back_populates="chat_sessions")
    messages: Mapped[list[ChatMessage]] = relationship(
        back_populates="session", cascade="all, delete-orphan", passive_deletes=True
    )


class ChatMessage(Base):
    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey(
            "chat_sessions.id", name="chat_messages_session_fk", ondelete="CASCADE", deferrable=True,
            initially="DEFERRED"
        ),
        index=True,
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    content: Mapped[str] = mapped_column(Text)

    session: Mapped[ChatSession] = relationship(back_populates="messages")


class Appointment(Base):
    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(Text)

    patient: Mapped[User] = relationship(foreign_keys=[patient_id], back_populates="appointments")
    doctor: Mapped[User | None] = relationship(foreign_keys=[doctor_id], back_populates="doctor_appointments")


class UserLifestyle(Base):
    __tablename__ = "user_lifestyle"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    smoker: Mapped[bool]

    user: Mapped[User] = relationship(back_populates="lifestyle")


class HealthDataHistory(Base):
    __tablename__ = "health_data_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", name="health_data_history_user_fk", ondelete="CASCADE", onupdate="CASCADE"),
        index=True,
    )
    metric: Mapped[str] = mapped_column(Text)


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    rating: Mapped[int]

    user: Mapped[User | None] = relationship(back_populates="feedback")
