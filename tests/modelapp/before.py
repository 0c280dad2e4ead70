"""The test application's models as first written, before the cascade-tool migration.

Typical of what check-models finds: no `ondelete` on any ForeignKey, the database's
DEFERRABLE / ON UPDATE options not repeated, relationships that null NOT NULL columns (seed 000)
or a primary key (seed 003), delete-orphan on a SET NULL link, per-row deletes and updates.
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

    chat_sessions: Mapped[list[ChatSession]] = relationship(back_populates="user")
    appointments: Mapped[list[Appointment]] = relationship(
        foreign_keys="Appointment.patient_id", back_populates="patient",
        cascade="all, delete-orphan", passive_deletes=True,
    )
    doctor_appointments: Mapped[list[Appointment]] = relationship(
        foreign_keys="Appointment.doctor_id", back_populates="doctor", cascade="all, delete-orphan"
    )
    lifestyle: Mapped[UserLifestyle | None] = relationship(back_populates="user")
    feedback: Mapped[list[Feedback]] = relationship(back_populates="user")


class ChatSession(Base):
    __tablename__ = "chat_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship(back_populates="chat_sessions")
    messages: Mapped[list[ChatMessage]] = relationship(back_populates="session", cascade="all, delete-orphan")


class ChatMessage(Base):
    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("chat_sessions.id", name="chat_messages_session_fk"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    content: Mapped[str] = mapped_column(Text)

    session: Mapped[ChatSession] = relationship(back_populates="messages")


class Appointment(Base):
    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(Text)

    patient: Mapped[User] = relationship(foreign_keys=[patient_id], back_populates="appointments")
    doctor: Mapped[User | None] = relationship(foreign_keys=[doctor_id], back_populates="doctor_appointments")


class UserLifestyle(Base):
    __tablename__ = "user_lifestyle"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    smoker: Mapped[bool]

    user: Mapped[User] = relationship(back_populates="lifestyle")


class HealthDataHistory(Base):
    __tablename__ = "health_data_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", name="health_data_history_user_fk"), index=True)
    metric: Mapped[str] = mapped_column(Text)


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    rating: Mapped[int]

    user: Mapped[User | None] = relationship(back_populates="feedback")
