"""The compute: batched ResNet ensembles, training, diagnostics, references, Celery tasks."""
