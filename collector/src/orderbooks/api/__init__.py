"""The HTTP side: the one client, its request budget, its retry and cycle schedules and its outage signals."""
