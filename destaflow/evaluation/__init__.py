"""Scoring: benchmark loaders (Dynamic-SUPERB, the demo benchmark), systems' answers, rule and judge scorers, tables."""
