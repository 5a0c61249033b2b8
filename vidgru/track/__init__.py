"""Tracking by detection: association, motion models (Kalman, GRU) and the Tracker."""
