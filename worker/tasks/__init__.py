"""Task modules; each task has an explicit, stable name."""
