"""orders: a small order service (the target devops-healer's demo fixes)."""
