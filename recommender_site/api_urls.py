"""The REST API's URLs: one router under /api/v1/, the schema and its docs, health checks."""

urlpatterns: list = []
