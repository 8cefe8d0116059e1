"""The SQLMesh project's configuration: the settings in project.yaml, under churnmesh's discipline.

SQLMesh loads this file for every command and every Context, churnmesh's and the `sqlmesh` CLI's
alike. Before handing over the settings it makes sure that a busy or unreadable state file is
never taken for a missing state (churnmesh/state_guard.py), and a `sqlmesh` command takes the
warehouse writer lock churnmesh's own runs take, so the two never write at the same time.
"""

from churnmesh import state_guard

state_guard.install()
state_guard.hold_for_sqlmesh_cli()
config = state_guard.project_config(__file__)
