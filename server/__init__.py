"""void_server: the GPU side of void-nuke (quadmasks, engines, the job server)."""

__version__ = "0.1.0"
