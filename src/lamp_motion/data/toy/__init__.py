"""The synthetic toy world: rendered shapes (scene), their motions, and motion sets written as videos."""
