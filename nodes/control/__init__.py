"""Control flow: `route` (a run takes one branch, by conditions over its inputs) and
`coalesce` (the first branch that ran); their nodes in `nodes.py`, docs/control-flow.md."""
