"""Render-farm jobs for shot lists: Open Job Description, Deadline 10 and OpenCue.

``submitter.submit_shots`` is the one entry point (CLI and Nuke); ``plan``
decides segments and version folders for every farm alike; ``tasks`` holds
the prepare and publish steps that run on the farm.
"""
