"""Timeouts for tests whose time follows the CPU rather than a wait."""

# Tests that stream hours of audio through the shipped cascade (YAMNet on every gated window):
# 530 s for the longest on a 2-vCPU Zen 2 machine without AVX-512, where YAMNet runs ten times
# slower than where its floors were measured. A timeout only catches a hang; twice the slowest
# time seen leaves room for a busy CI machine.
MODEL_GUARD_TIMEOUT_S = 1200
