from churnmesh.dashboard import views

views.cohorts()
