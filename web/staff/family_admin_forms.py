"""Forms of the family admin pages (import)."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField

FILE_DESCRIPTION = ("Een Excel-werkmap (.xlsx) of CSV-bestand (UTF-8), gemaakt van het sjabloon; "
                    "hoogstens 2 MB en 2000 gezinnen.")


class ImportUploadForm(FlaskForm):
    """Step 1: the file is checked; nothing is written."""

    file = FileField("Bestand met gezinnen", description=FILE_DESCRIPTION,
                     validators=[FileRequired("Kies het bestand met de gezinnen.")])


class ImportCommitForm(FlaskForm):
    """Step 2: the same file again, with the signed proof of the check it passed; then it is written."""

    file = FileField("Kies hetzelfde bestand nog een keer", description=(
        "Zo importeren we precies het bestand dat net is gecontroleerd; "
        "het wordt nog een keer volledig gecontroleerd."),
        validators=[FileRequired("Kies het bestand dat je net hebt laten controleren.")])
    checked = HiddenField()
