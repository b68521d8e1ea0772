"""The console's screens: queue, conversation, traces, metrics, knowledge, departments and help."""
