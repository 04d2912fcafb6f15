"""The agent family: a node that runs a tool-calling loop with a chat model, and its tools."""
