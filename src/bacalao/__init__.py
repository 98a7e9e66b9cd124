"""bacalao: compute over data. Jobs move to the nodes that hold their content-addressed inputs."""

__version__ = "0.1.0"
