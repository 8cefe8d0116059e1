"""Scoring: customer lifetime value and churn."""
