"""The error training stops with (its own module so that the trainer and its helpers share it)."""


class TrainingError(RuntimeError):
    """Training stopped; the message says why and what was kept."""
