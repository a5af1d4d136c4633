"""Prompt templates of reward synthesis (package data, edit freely; see ``prompts.py``)."""
