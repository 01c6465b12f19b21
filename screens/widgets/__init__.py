"""Reusable widgets of the screens: charts, field rows, the findings panel."""
