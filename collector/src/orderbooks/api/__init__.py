"""The HTTP side: the one client, its request budget and its retry and cycle schedules."""
