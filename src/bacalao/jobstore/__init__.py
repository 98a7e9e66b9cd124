"""Durable jobs, executions and history (SQLite by default). See README.md for the contract."""

from bacalao.jobstore.base import Clock, JobStore
from bacalao.jobstore.sqlite import SQLiteJobStore

__all__ = ["Clock", "JobStore", "SQLiteJobStore"]
