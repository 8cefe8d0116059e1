from churnmesh.dashboard import views

views.support()
