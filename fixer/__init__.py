"""Pure git-and-forge work: a repo spec and a change in, a verified branch and pull request out."""
