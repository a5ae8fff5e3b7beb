"""A NIST Randomness Beacon 2.0 publisher and verifier (NISTIR 8213)."""
