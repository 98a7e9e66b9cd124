"""A node's answer to "will you run this execution?"."""

from __future__ import annotations

from pydantic import Field

from bacalao.models._wire import WireModel


class Bid(WireModel):
    """``{JobID, ExecutionID, NodeID, Accepted, Reason}``; a rejection always says why.

    ``Price`` is room for bacalao's pricing (per execution, in the ledger's unit); None until then.
    """

    job_id: str = Field(alias="JobID")
    execution_id: str = Field(alias="ExecutionID")
    node_id: str = Field(alias="NodeID")
    accepted: bool = Field(alias="Accepted")
    reason: str = Field(default="", alias="Reason")
    price: float | None = Field(default=None, alias="Price", ge=0)
