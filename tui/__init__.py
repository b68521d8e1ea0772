"""The operator console (`crossdesk tui`).

Only the modules that draw the screen (app, screens, widgets) import Textual;
the read model (`tui.data`), the operator actions (`tui.desk`) and the
simulator (`tui.simulator`) are plain Python, so this package stays importable
without starting any UI.
"""
