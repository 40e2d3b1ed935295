"""The daemon: composition root, runtime, scheduler, jobs."""
