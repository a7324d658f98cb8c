"""Settings split by environment: base (shared), local (embedded default), production, test.

Every secret and address comes from the environment (django-environ); see .env.example.
"""
