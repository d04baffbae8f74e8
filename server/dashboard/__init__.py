"""The operators' dashboard: server-rendered pages over the store, live through the timeline feed."""
