from churnmesh.dashboard import views

views.campaign_simulator()
