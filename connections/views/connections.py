"""Filled in by its issue."""

urlpatterns: list = []
