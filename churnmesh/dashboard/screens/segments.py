from churnmesh.dashboard import views

views.segments()
