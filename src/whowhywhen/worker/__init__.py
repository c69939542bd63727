"""Task dispatch: background work is plain async functions registered by stable dotted name.

Without REDIS_URL (the embedded default) an in-process scheduler runs them on their intervals
inside the app's event loop; with REDIS_URL, Celery beat schedules them and Celery workers run
them (`celery -A whowhywhen.worker.celery_app worker|beat`; install the `celery` extra).
"""
