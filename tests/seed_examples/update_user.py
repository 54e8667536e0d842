from __future__ import print_function
from moesifapi.moesif_api_client import *
from moesifapi.models import *
from datetime import *

client = MoesifAPIClient(my_application_id)
api = client.api

metadata = APIHelper.json_deserialize("""  {
        "email": "pythonapiuser@email.com",
        "name": "pythonapiuser",
        "custom": "testdata"
    } """)

user_model = UserModel(
    user_id = 'pythonapiuser1',
    modified_time = datetime.utcnow(),
    metadata = metadata)

# Perform the API call through the SDK function
api.update_user(user_model)
