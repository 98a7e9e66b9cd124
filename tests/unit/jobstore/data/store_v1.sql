PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO store_meta VALUES('schema_version','1');
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL,
    state       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    revision    INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    modify_time INTEGER NOT NULL,
    spec        TEXT NOT NULL            -- the whole Job, bacalao wire JSON
);
INSERT INTO jobs VALUES('j-cc','default','j-cc','batch','Completed',1,3,1700000000000001000,1700000000000010000,'{"ID":"j-cc","Name":"j-cc","Namespace":"default","Type":"batch","Priority":0,"Count":1,"Constraints":[],"Meta":{},"Labels":{"team":"a"},"Tasks":[{"Name":"main","Engine":{"Type":"noop"},"Publisher":{"Type":""},"Resources":{},"Network":{"Type":"None"},"Timeouts":{"TotalTimeout":1800}}],"State":{"StateType":"Completed","Message":"all executions completed"},"Version":1,"Revision":3,"CreateTime":1700000000000001000,"ModifyTime":1700000000000010000}');
INSERT INTO jobs VALUES('j-aa','default','j-aa','batch','Pending',1,1,1700000000000002000,1700000000000002000,'{"ID":"j-aa","Name":"j-aa","Namespace":"default","Type":"batch","Priority":0,"Count":1,"Constraints":[],"Meta":{},"Labels":{"team":"b","tier":"x"},"Tasks":[{"Name":"main","Engine":{"Type":"noop"},"Publisher":{"Type":""},"Resources":{},"Network":{"Type":"None"},"Timeouts":{"TotalTimeout":1800}}],"State":{"StateType":"Pending"},"Version":1,"Revision":1,"CreateTime":1700000000000002000,"ModifyTime":1700000000000002000}');
INSERT INTO jobs VALUES('j-bb','default','j-bb','batch','Pending',1,1,1700000000000003000,1700000000000003000,'{"ID":"j-bb","Name":"j-bb","Namespace":"default","Type":"batch","Priority":0,"Count":1,"Constraints":[],"Meta":{},"Labels":{},"Tasks":[{"Name":"main","Engine":{"Type":"noop"},"Publisher":{"Type":""},"Resources":{},"Network":{"Type":"None"},"Timeouts":{"TotalTimeout":1800}}],"State":{"StateType":"Pending"},"Version":1,"Revision":1,"CreateTime":1700000000000003000,"ModifyTime":1700000000000003000}');
CREATE TABLE job_labels (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (job_id, key)
);
INSERT INTO job_labels VALUES('j-cc','team','a');
INSERT INTO job_labels VALUES('j-aa','team','b');
INSERT INTO job_labels VALUES('j-aa','tier','x');
CREATE TABLE job_versions (
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    spec        TEXT NOT NULL,
    PRIMARY KEY (job_id, version)
);
INSERT INTO job_versions VALUES('j-cc',1,1700000000000001000,'{"ID":"j-cc","Name":"j-cc","Namespace":"default","Type":"batch","Priority":0,"Count":1,"Constraints":[],"Meta":{},"Labels":{"team":"a"},"Tasks":[{"Name":"main","Engine":{"Type":"noop"},"Publisher":{"Type":""},"Resources":{},"Network":{"Type":"None"},"Timeouts":{"TotalTimeout":1800}}],"State":{"StateType":"Pending"},"Version":1,"Revision":1,"CreateTime":1700000000000001000,"ModifyTime":1700000000000001000}');
INSERT INTO job_versions VALUES('j-aa',1,1700000000000002000,'{"ID":"j-aa","Name":"j-aa","Namespace":"default","Type":"batch","Priority":0,"Count":1,"Constraints":[],"Meta":{},"Labels":{"team":"b","tier":"x"},"Tasks":[{"Name":"main","Engine":{"Type":"noop"},"Publisher":{"Type":""},"Resources":{},"Network":{"Type":"None"},"Timeouts":{"TotalTimeout":1800}}],"State":{"StateType":"Pending"},"Version":1,"Revision":1,"CreateTime":1700000000000002000,"ModifyTime":1700000000000002000}');
INSERT INTO job_versions VALUES('j-bb',1,1700000000000003000,'{"ID":"j-bb","Name":"j-bb","Namespace":"default","Type":"batch","Priority":0,"Count":1,"Constraints":[],"Meta":{},"Labels":{},"Tasks":[{"Name":"main","Engine":{"Type":"noop"},"Publisher":{"Type":""},"Resources":{},"Network":{"Type":"None"},"Timeouts":{"TotalTimeout":1800}}],"State":{"StateType":"Pending"},"Version":1,"Revision":1,"CreateTime":1700000000000003000,"ModifyTime":1700000000000003000}');
CREATE TABLE executions (
    id            TEXT PRIMARY KEY,
    job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    shard_index   INTEGER NOT NULL,
    node_id       TEXT NOT NULL,
    desired_state TEXT NOT NULL,
    compute_state TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    create_time   INTEGER NOT NULL,
    modify_time   INTEGER NOT NULL,
    data          TEXT NOT NULL          -- the whole Execution, bacalao wire JSON
);
INSERT INTO executions VALUES('e-2','j-cc',0,'n-1','Running','Completed',3,1700000000000004000,1700000000000009000,'{"ID":"e-2","Namespace":"default","JobID":"j-cc","NodeID":"n-1","EvalID":"","Name":"","ShardIndex":0,"DesiredState":{"StateType":"Running"},"ComputeState":{"StateType":"Completed","Message":"completed"},"Allocated":{},"ResultCID":"","Metering":{},"Retryable":true,"PreviousExecution":"","NextExecution":"","Revision":3,"CreateTime":1700000000000004000,"ModifyTime":1700000000000009000}');
INSERT INTO executions VALUES('e-3','j-aa',0,'n-1','Running','AskForBid',1,1700000000000005000,1700000000000005000,'{"ID":"e-3","Namespace":"default","JobID":"j-aa","NodeID":"n-1","EvalID":"","Name":"","ShardIndex":0,"DesiredState":{"StateType":"Running"},"ComputeState":{"StateType":"AskForBid"},"Allocated":{},"ResultCID":"","Metering":{},"Retryable":true,"PreviousExecution":"","NextExecution":"","Revision":1,"CreateTime":1700000000000005000,"ModifyTime":1700000000000005000}');
INSERT INTO executions VALUES('e-1','j-aa',0,'n-1','Running','AskForBid',1,1700000000000006000,1700000000000006000,'{"ID":"e-1","Namespace":"default","JobID":"j-aa","NodeID":"n-1","EvalID":"","Name":"","ShardIndex":0,"DesiredState":{"StateType":"Running"},"ComputeState":{"StateType":"AskForBid"},"Allocated":{},"ResultCID":"","Metering":{},"Retryable":true,"PreviousExecution":"","NextExecution":"","Revision":1,"CreateTime":1700000000000006000,"ModifyTime":1700000000000006000}');
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    execution_id TEXT,                   -- NULL for job-level entries
    time         INTEGER NOT NULL,
    type         TEXT NOT NULL,          -- JobLevel | ExecutionLevel
    topic        TEXT NOT NULL,
    message      TEXT NOT NULL,
    details      TEXT NOT NULL           -- the whole JobHistory entry, bacalao wire JSON
);
INSERT INTO events VALUES(1,'j-cc',NULL,1700000000000001000,'JobLevel','Submission','Job submitted','{"Type":"JobLevel","JobID":"j-cc","JobState":{"Previous":"Pending","New":"Pending"},"NewRevision":1,"Event":{"Message":"Job submitted","Topic":"Submission","Timestamp":1700000000000001000},"Time":1700000000000001000}');
INSERT INTO events VALUES(2,'j-aa',NULL,1700000000000002000,'JobLevel','Submission','Job submitted','{"Type":"JobLevel","JobID":"j-aa","JobState":{"Previous":"Pending","New":"Pending"},"NewRevision":1,"Event":{"Message":"Job submitted","Topic":"Submission","Timestamp":1700000000000002000},"Time":1700000000000002000}');
INSERT INTO events VALUES(3,'j-bb',NULL,1700000000000003000,'JobLevel','Submission','Job submitted','{"Type":"JobLevel","JobID":"j-bb","JobState":{"Previous":"Pending","New":"Pending"},"NewRevision":1,"Event":{"Message":"Job submitted","Topic":"Submission","Timestamp":1700000000000003000},"Time":1700000000000003000}');
INSERT INTO events VALUES(4,'j-cc','e-2',1700000000000004000,'ExecutionLevel','Scheduling','execution created for shard 0 on node n-1','{"Type":"ExecutionLevel","JobID":"j-cc","ExecutionID":"e-2","NodeID":"n-1","ExecutionState":{"Previous":"New","New":"AskForBid"},"NewRevision":1,"Event":{"Message":"execution created for shard 0 on node n-1","Topic":"Scheduling","Timestamp":1700000000000004000},"Time":1700000000000004000}');
INSERT INTO events VALUES(5,'j-aa','e-3',1700000000000005000,'ExecutionLevel','Scheduling','execution created for shard 0 on node n-1','{"Type":"ExecutionLevel","JobID":"j-aa","ExecutionID":"e-3","NodeID":"n-1","ExecutionState":{"Previous":"New","New":"AskForBid"},"NewRevision":1,"Event":{"Message":"execution created for shard 0 on node n-1","Topic":"Scheduling","Timestamp":1700000000000005000},"Time":1700000000000005000}');
INSERT INTO events VALUES(6,'j-aa','e-1',1700000000000006000,'ExecutionLevel','Scheduling','execution created for shard 0 on node n-1','{"Type":"ExecutionLevel","JobID":"j-aa","ExecutionID":"e-1","NodeID":"n-1","ExecutionState":{"Previous":"New","New":"AskForBid"},"NewRevision":1,"Event":{"Message":"execution created for shard 0 on node n-1","Topic":"Scheduling","Timestamp":1700000000000006000},"Time":1700000000000006000}');
INSERT INTO events VALUES(7,'j-cc',NULL,1700000000000007000,'JobLevel','Scheduling','Running','{"Type":"JobLevel","JobID":"j-cc","JobState":{"Previous":"Pending","New":"Running"},"NewRevision":2,"Event":{"Message":"Running","Topic":"Scheduling","Timestamp":1700000000000007000},"Time":1700000000000007000}');
INSERT INTO events VALUES(8,'j-cc','e-2',1700000000000008000,'ExecutionLevel','Execution','bid accepted','{"Type":"ExecutionLevel","JobID":"j-cc","ExecutionID":"e-2","NodeID":"n-1","ExecutionState":{"Previous":"AskForBid","New":"BidAccepted"},"NewRevision":2,"Event":{"Message":"bid accepted","Topic":"Execution","Timestamp":1700000000000008000},"Time":1700000000000008000}');
INSERT INTO events VALUES(9,'j-cc','e-2',1700000000000009000,'ExecutionLevel','Execution','completed','{"Type":"ExecutionLevel","JobID":"j-cc","ExecutionID":"e-2","NodeID":"n-1","ExecutionState":{"Previous":"BidAccepted","New":"Completed"},"NewRevision":3,"Event":{"Message":"completed","Topic":"Execution","Timestamp":1700000000000009000},"Time":1700000000000009000}');
INSERT INTO events VALUES(10,'j-cc',NULL,1700000000000010000,'JobLevel','Scheduling','all executions completed','{"Type":"JobLevel","JobID":"j-cc","JobState":{"Previous":"Running","New":"Completed"},"NewRevision":3,"Event":{"Message":"all executions completed","Topic":"Scheduling","Timestamp":1700000000000010000},"Time":1700000000000010000}');
INSERT INTO events VALUES(11,'j-aa',NULL,1700000000000011000,'JobLevel','Notes','a note','{"Type":"JobLevel","JobID":"j-aa","NewRevision":0,"Event":{"Message":"a note","Topic":"Notes","Timestamp":1700000000000011000},"Time":1700000000000011000}');
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('events',11);
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_created ON jobs (create_time, id);
CREATE INDEX jobs_modified ON jobs (modify_time, id);
CREATE INDEX jobs_namespace ON jobs (namespace, create_time, id);
CREATE INDEX job_labels_kv ON job_labels (key, value);
CREATE INDEX executions_job ON executions (job_id, shard_index, create_time);
CREATE INDEX executions_node ON executions (node_id, compute_state);
CREATE INDEX executions_state ON executions (compute_state);
CREATE INDEX events_job ON events (job_id, seq);
COMMIT;
