FLASK_APP=momento
