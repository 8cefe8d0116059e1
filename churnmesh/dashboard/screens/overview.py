from churnmesh.dashboard import views

views.overview()
