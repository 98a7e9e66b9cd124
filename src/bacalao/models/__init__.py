"""bacalao's data model: the Bacalhau v1 job spec, executions, nodes, bids, states, history.

Pydantic v2 models with Bacalhau's PascalCase keys as aliases and snake_case attributes; input keys
match case-insensitively and unknown keys are rejected. No I/O, and no imports from the project
except :mod:`bacalao.errors`. See README.md for the contract.
"""

from bacalao.models.bid import Bid
from bacalao.models.constraint import Constraint, Operator, parse_constraints
from bacalao.models.event import Event, HistoryType, JobHistory, StateChange, Topic
from bacalao.models.execution import (
    ComputeState,
    DesiredState,
    Execution,
    Metering,
    RunCommandResult,
)
from bacalao.models.input_source import (
    SOURCE_TYPES,
    InlineSource,
    InputSource,
    IPFSSource,
    LocalDirectorySource,
    S3Source,
    SourceSpec,
    URLDownloadSource,
)
from bacalao.models.job import Job, JobState, JobType
from bacalao.models.job_state import (
    DESIRED_TRANSITIONS,
    EXECUTION_TRANSITIONS,
    JOB_TRANSITIONS,
    DesiredStateType,
    ExecutionStateType,
    JobStateType,
    can_transition,
    check_transition,
)
from bacalao.models.network import Network, NetworkType
from bacalao.models.node import (
    GPU,
    NodeConnectionState,
    NodeInfo,
    NodeMembershipState,
    NodeType,
    gpu_labels,
)
from bacalao.models.parse import (
    dump_execution,
    dump_history,
    dump_job,
    load_job,
    load_job_file,
    parse_execution,
    parse_job,
    parse_job_text,
)
from bacalao.models.publisher import PublishedResult, Publisher
from bacalao.models.resources import (
    ResourceAmounts,
    Resources,
    format_size,
    parse_cpu,
    parse_gpu,
    parse_size,
)
from bacalao.models.sharding import MergeLayout, Sharding
from bacalao.models.spec_config import SpecConfig
from bacalao.models.task import ResultPath, Task
from bacalao.models.timeouts import Timeouts
from bacalao.models.verification import Verification

__all__ = [
    "DESIRED_TRANSITIONS",
    "EXECUTION_TRANSITIONS",
    "GPU",
    "JOB_TRANSITIONS",
    "SOURCE_TYPES",
    "Bid",
    "ComputeState",
    "Constraint",
    "DesiredState",
    "DesiredStateType",
    "Event",
    "Execution",
    "ExecutionStateType",
    "HistoryType",
    "IPFSSource",
    "InlineSource",
    "InputSource",
    "Job",
    "JobHistory",
    "JobState",
    "JobStateType",
    "JobType",
    "LocalDirectorySource",
    "MergeLayout",
    "Metering",
    "Network",
    "NetworkType",
    "NodeConnectionState",
    "NodeInfo",
    "NodeMembershipState",
    "NodeType",
    "Operator",
    "PublishedResult",
    "Publisher",
    "ResourceAmounts",
    "Resources",
    "ResultPath",
    "RunCommandResult",
    "S3Source",
    "Sharding",
    "SourceSpec",
    "SpecConfig",
    "StateChange",
    "Task",
    "Timeouts",
    "Topic",
    "URLDownloadSource",
    "Verification",
    "can_transition",
    "check_transition",
    "dump_execution",
    "dump_history",
    "dump_job",
    "format_size",
    "gpu_labels",
    "load_job",
    "load_job_file",
    "parse_constraints",
    "parse_cpu",
    "parse_execution",
    "parse_gpu",
    "parse_job",
    "parse_job_text",
    "parse_size",
]
