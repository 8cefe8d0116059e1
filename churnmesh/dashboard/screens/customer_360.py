from churnmesh.dashboard import views

views.customer_360()
