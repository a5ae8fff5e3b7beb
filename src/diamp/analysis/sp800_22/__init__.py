"""NIST SP 800-22 Rev. 1a statistical tests, matching the reference sts-2.1.2."""
