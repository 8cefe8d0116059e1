from churnmesh.dashboard import views

views.churn_risk()
