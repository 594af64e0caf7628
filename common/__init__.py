"""Domain logic and adapters (db, storage, gong, claude, chunking, costs, config).

Nothing in here imports from `functions/`, `flows/` or `local/`.
"""
