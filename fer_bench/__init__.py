"""Measurement and synthetic data for FER Overlay: a source-checkout tool, not part of the runtime.

``fer-overlay bench`` (per-stage speed), ``fer-overlay bench --soak`` (memory and log completeness
over a long session) and ``fer-overlay evaluate`` (tile/face recall and accuracy on synthetic
galleries) run from here, as do the tests' synthetic galleries. They build galleries from FER2013
faces loaded with ``training.data``, so they need the checkout (the dataset loader and the data set);
neither the wheel nor the desktop build carries this package, and ``fer_overlay`` never imports it.
"""
