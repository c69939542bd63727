"""Domain-free helpers: time, ids, hashing, histograms, rate limits, dialect-aware upserts."""
