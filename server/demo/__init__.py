"""`healer demo`: the whole loop on this machine, with a scripted agent in place of a coding agent."""
