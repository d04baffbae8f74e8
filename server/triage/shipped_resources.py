"""Shipped triage rules for exhausted resources: disk, memory and the database.

Part of the shipped rule set (see server.triage.shipped_rules for how it is ordered and why).
"""

from __future__ import annotations

from server.models import Category, Severity
from server.triage.rules import WITH_LABELS, TriageRule

C = Category

RESOURCE_RULES: tuple[TriageRule, ...] = (
    # ---- disk ---------------------------------------------------------------------------
    TriageRule(
        name="disk-full",
        category=C.disk,
        priority=95,
        confidence=0.95,
        severity=Severity.high,
        patterns=(
            r"no space left on device",
            r"\bENOSPC\b",
            r"\bdisk (is )?full\b",
            r"database or disk is full",
            r"not enough space on the disk",
            r"\bdisk quota exceeded\b|\bEDQUOT\b",
            r"could not (extend|write to) file .*(space|quota)",
            r"\bErrcode: 28\b",
            r"insufficient (disk|storage) space",
        ),
        summary="Disk full on {service}: {match}",
        suggested_fix="Free or grow the volume, then stop the growth: rotate and cap logs, expire temporary "
        "files and old data, and alert before the volume passes 80%.",
    ),
    TriageRule(
        name="disk-read-only",
        category=C.disk,
        priority=80,
        confidence=0.85,
        patterns=(
            r"read-only file ?system",
            r"\bEROFS\b",
            r"\bInput/output error\b",
            r"\bI/O error\b.*\b(sd[a-z]|nvme|dev)\b",
        ),
        summary="Storage on {service} is read-only or failing: {match}",
        suggested_fix="Check the volume's health and mount (a filesystem remounts read-only after I/O errors); "
        "move the workload to healthy storage.",
    ),
    TriageRule(
        name="disk-pressure",
        category=C.disk,
        priority=70,
        confidence=0.8,
        fields=WITH_LABELS,
        patterns=(
            r"\bDiskPressure\b",
            r"NodeFilesystem(AlmostOutOfSpace|SpaceFillingUp|AlmostOutOfFiles|FilesFillingUp)",
            r"KubePersistentVolume(FillingUp|Errors)",
            r"\b(disk|filesystem|volume|partition) (usage|space|utili[sz]ation)\b.{0,40}(above|over|exceed|\d+ ?%)",
            r"\b(disk|filesystem|volume|partition)\b.{0,40}\b(almost|nearly) full\b",
            r"\bout of inodes\b|\binodes? (exhausted|usage)",
            r"low on resource: ephemeral-storage",
            r"\b(flood[- ]stage|high|low) disk watermark\b",
            r"\balertname=\w*(Disk|Filesystem|Volume|Inode)",
        ),
        summary="Disk filling up on {service}: {match}",
        suggested_fix="Find what is writing (logs, temp files, caches, WAL/binlogs) and cap or rotate it; "
        "expand the volume if the growth is legitimate.",
    ),
    # ---- memory -------------------------------------------------------------------------
    TriageRule(
        name="oom-killed",
        category=C.memory,
        priority=90,
        confidence=0.95,
        fields=WITH_LABELS,
        patterns=(
            r"OOMKilled",  # also inside alert names: KubeContainerOOMKilled
            r"\bOOM[- ]?kill(ed|er)?\b",
            r"out of memory: kill(ed)? process",
            r"memory cgroup out of memory",
            r"invoked oom-killer",
            r"\bexit code:? 137\b",
        ),
        summary="{service} was killed for exceeding its memory limit",
        suggested_fix="Find what grows (heap profile, unbounded caches or queues, large payloads read whole) "
        "and bound it; raise the container's memory limit only if the working set is legitimate.",
    ),
    TriageRule(
        name="jvm-out-of-memory",
        category=C.memory,
        priority=90,
        confidence=0.95,
        patterns=(r"java\.lang\.OutOfMemoryError", r"\bOutOfMemoryError\b", r"GC overhead limit exceeded"),
        summary="JVM out of memory in {service}: {match}",
        suggested_fix="Take a heap dump (-XX:+HeapDumpOnOutOfMemoryError), find the dominating objects and bound "
        "them; size -Xmx against the container limit.",
    ),
    TriageRule(
        name="runtime-heap-exhausted",
        category=C.memory,
        priority=90,
        confidence=0.95,
        patterns=(
            r"JavaScript heap out of memory",
            r"Reached heap limit",
            r"FATAL ERROR: .*Allocation failed",
            r"\bMemoryError\b",
            r"cannot allocate memory",
            r"\bENOMEM\b",
            r"std::bad_alloc",
            r"runtime: out of memory",
            r"memory allocation of \d+ bytes failed",
            r"CUDA out of memory",
        ),
        summary="Out of memory in {service}: {match}",
        suggested_fix="Profile allocations on the failing path; stream or paginate large inputs instead of "
        "loading them whole, and bound caches.",
    ),
    TriageRule(
        name="memory-pressure",
        category=C.memory,
        priority=60,
        confidence=0.75,
        fields=WITH_LABELS,
        patterns=(
            r"\bmemory (usage|utili[sz]ation|consumption)\b.{0,40}(above|over|exceed|high|\d+ ?%)",
            r"\bhigh memory\b",
            r"\bmemory leak\b",
            r"\bheap (usage|size|growth|used)\b.{0,40}(grow|increas|above|over|high|\d+ ?%)",
            r"\bMemoryPressure\b",
            r"\bKube\w*Memory\w*\b",
            r"container_memory_(working_set|rss)",
            r"\bRSS\b.{0,30}\b(grow|increas)",
            r"\bFull GC\b|\bGC pause",
            r"\d+(\.\d+)? ?% of (its |the )?memory( limit)?\b",
            r"\balertname=\w*(Memory|Heap|OOM)",
        ),
        summary="Memory climbing in {service}: {match}",
        suggested_fix="Compare heap profiles over time to find what is retained; look for caches without "
        "eviction, listeners never removed and growing global collections.",
    ),
    # ---- database -----------------------------------------------------------------------
    TriageRule(
        name="db-pool-exhausted",
        category=C.database,
        priority=90,
        confidence=0.9,
        severity=Severity.high,
        patterns=(
            r"connection pool (is )?(exhausted|full)",
            r"QueuePool limit of size \d+ overflow \d+ reached",
            r"HikariPool-\d+ - Connection is not available",
            r"remaining connection slots are reserved",
            r"too many clients already",
            r"\btoo many connections\b",
            r"timed out fetching a new connection from the connection pool",
            r"(timeout|timed out) (acquiring|waiting for|obtaining) (a )?(database |db )?connection",
            r"unable to acquire (a )?(jdbc |database )?connection",
            r"max number of clients reached",
            r"pool (timeout|exhausted)",
        ),
        summary="Database connection pool exhausted in {service}",
        suggested_fix="Make sure every connection or session is returned (context managers, finally blocks), "
        "look for long transactions holding connections, then size the pool against the server's "
        "max_connections divided by the replica count.",
    ),
    TriageRule(
        name="redis-maxmemory",
        category=C.database,
        priority=92,
        confidence=0.9,
        patterns=(r"OOM command not allowed when used memory > 'maxmemory'",),
        summary="Redis is at maxmemory and refuses writes ({service})",
        suggested_fix="Set TTLs on keys the service writes and an eviction policy (maxmemory-policy), or "
        "raise maxmemory; find the key pattern that grows.",
    ),
    TriageRule(
        name="db-lock-contention",
        category=C.database,
        priority=85,
        confidence=0.9,
        patterns=(
            r"deadlock detected",
            r"deadlock found when trying to get lock",
            r"lock wait timeout exceeded",
            r"could not serialize access",
            r"database is locked",
            r"\bSQLITE_BUSY\b",
            r"could not obtain lock on",
            r"\bLockNotAvailable\b",
        ),
        summary="Database lock contention in {service}: {match}",
        suggested_fix="Take locks in one consistent order, keep transactions short, and retry the "
        "transaction on deadlock or serialization errors.",
    ),
    TriageRule(
        name="db-query-timeout",
        category=C.database,
        priority=80,
        confidence=0.85,
        patterns=(
            r"canceling statement due to statement timeout",
            r"query execution was interrupted",
            r"maximum statement execution time exceeded",
            r"\bQueryCanceled\b",
            r"\bslow quer(y|ies)\b",
        ),
        summary="Database query too slow in {service}",
        suggested_fix="EXPLAIN the slow query, add the missing index or narrow it, and paginate large scans.",
    ),
    TriageRule(
        name="db-schema-mismatch",
        category=C.database,
        priority=80,
        confidence=0.85,
        patterns=(
            r"relation \"[^\"]+\" does not exist",
            r"column \"[^\"]+\" (of relation \"[^\"]+\" )?does not exist",
            r"unknown column '[^']+'",
            r"table '[^']+' doesn't exist",
            r"no such (table|column):",
            r"\bUndefined(Table|Column)\b",
            r"ORA-00942",
            r"Invalid object name '",
        ),
        summary="Query and database schema disagree in {service}: {match}",
        suggested_fix="Run the pending migration, or align the query/model with the deployed schema; deploy "
        "migrations before the code that needs them.",
    ),
    TriageRule(
        name="db-constraint-violation",
        category=C.database,
        priority=75,
        confidence=0.8,
        patterns=(
            r"duplicate key value violates unique constraint",
            r"violates (foreign key|not-null|check) constraint",
            r"duplicate entry '[^']*' for key",
            r"UNIQUE constraint failed",
            r"\bIntegrityError\b",
            r"ConstraintViolationException",
        ),
        summary="Database constraint violated in {service}: {match}",
        suggested_fix="Validate or upsert before writing (INSERT ... ON CONFLICT), and make the write "
        "idempotent when it can be retried.",
    ),
    TriageRule(
        name="db-unavailable",
        category=C.database,
        priority=75,
        confidence=0.8,
        patterns=(
            r"could not connect to server",
            r"connection to server at .{0,120} failed",
            r"can't connect to (local )?MySQL server",
            r"(connection refused|ECONNREFUSED).{0,20}:(5432|3306|6379|27017|9042|1433|1521)\b",
            r":(5432|3306|6379|27017|9042|1433|1521)\b.{0,40}(connection refused|ECONNREFUSED|i/o timeout)",
            r"Connection to \S+ refused\. Check that the hostname and port are correct",
            r"the database system is (starting up|shutting down|in recovery mode)",
            r"server closed the connection unexpectedly",
            r"communications link failure",
            r"\bredis\.exceptions\.\w+",
            r"\b(Jedis|Lettuce|ioredis|Redis)\w*(Connection|Timeout)\w*(Exception|Error)\b",
            r"\bMongo(ServerSelection|Network)\w*Error\b|ServerSelectionTimeoutError",
            r"READONLY You can't write against a read only replica",
            r"\bCLUSTERDOWN\b",
            r"lost connection to MySQL server",
        ),
        summary="Database unreachable from {service}: {match}",
        suggested_fix="Check the database's health and the service's connection settings; reconnect with "
        "backoff instead of failing requests, and use pool pre-ping to drop dead connections.",
    ),
    TriageRule(
        name="db-error",
        category=C.database,
        priority=40,
        confidence=0.6,
        patterns=(
            r"\b(psycopg2?|asyncpg|pymysql|MySQLdb|sqlalchemy)\.\w*(exc|errors?)\.\w+",
            r"\b(OperationalError|ProgrammingError|DatabaseError|DataError)\b",
            r"\bSQLSTATE\[?\w{5}",
            r"\bORA-\d{5}\b",
            r"\bPG::\w+",
            r"ActiveRecord::\w+",
            r"\bPSQLException\b|\bSQLException\b|\bSQLSyntaxErrorException\b",
            r"\bERROR:\s+\w+.{0,80}\bSQL\b",
            r"\breplica(tion)? lag\b",
            r"\bWRONGTYPE\b",
        ),
        summary="Database error in {service}: {match}",
        suggested_fix=None,
    ),
)
