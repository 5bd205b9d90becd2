package mail

import (
	"bytes"
	"strconv"
	"text/template"
	"time"
)

// The texts of Toodoo's mails. Each constructor renders its Message at once: the job holds the
// final text, so a template change never alters a mail already queued.

var texts = template.Must(template.New("").Parse(`
{{define "verify"}}Welcome to Toodoo!

You (or someone using your address) created the workspace "{{.Workspace}}". To confirm that
this address is yours and to enter the workspace, open this link within {{.TTL}}:

{{.Link}}

If this was not you, ignore this mail: nothing can be done with the account until the link
is used.
{{end}}
{{define "signup-existing"}}Hello,

Someone tried to create a Toodoo account with this address, which has an account already.
No account was created and nothing changed.

If that was you: sign in to create another workspace, or reset your password if you forgot it:

{{.Link}}

If it was not you, ignore this mail.
{{end}}
{{define "reset"}}Hello,

Someone (hopefully you) asked to reset the password of your Toodoo account. To choose a new
password, open this link within {{.TTL}}; it works once:

{{.Link}}

Setting a new password ends every session of your account. If you did not ask for this,
ignore this mail: your password stays as it is.
{{end}}
{{define "invite"}}Hello,

{{.Inviter}} added this address to the Toodoo workspace "{{.Workspace}}" as {{.Role}}.
You join only if you accept: open this link within {{.TTL}} and sign in with the account of
this address (or create one for it):

{{.Link}}

If you do not want to join, ignore this mail: nobody gets in with this address without you.
{{end}}
`))

func render(name string, data any) string {
	var b bytes.Buffer
	if err := texts.ExecuteTemplate(&b, name, data); err != nil {
		panic("mail: template " + name + ": " + err.Error()) // the templates are fixed: a bug
	}
	return b.String()
}

// ttl writes a lifetime for people: "30 minutes", "2 days".
func ttl(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return itoa(int(d/(24*time.Hour))) + " days"
	case d >= 2*time.Hour:
		return itoa(int(d/time.Hour)) + " hours"
	default:
		return itoa(int(d/time.Minute)) + " minutes"
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// Verify is the mail that confirms a new account's address; link signs the person in on their
// new workspace.
func Verify(to, workspace, link string, valid time.Duration) Message {
	return Message{To: to, Subject: "Confirm your e-mail address for Toodoo",
		Text: render("verify", map[string]string{"Workspace": workspace, "Link": link, "TTL": ttl(valid)})}
}

// SignupExisting tells the owner of an address that has an account that someone tried to sign
// up with it; link leads to the sign-in page. The same notice goes at most once an hour.
func SignupExisting(to, link string) Message {
	return Message{To: to, Subject: "Someone tried to sign up to Toodoo with your address",
		Text: render("signup-existing", map[string]string{"Link": link}), UniqueFor: time.Hour}
}

// PasswordReset carries a one-time link that sets a new password.
func PasswordReset(to, link string, valid time.Duration) Message {
	return Message{To: to, Subject: "Reset your Toodoo password",
		Text: render("reset", map[string]string{"Link": link, "TTL": ttl(valid)})}
}

// Invitation tells someone that an owner added their address to a workspace; link accepts.
func Invitation(to, inviter, workspace, role, link string, valid time.Duration) Message {
	return Message{To: to, Subject: "You were added to the Toodoo workspace " + workspace,
		Text: render("invite", map[string]string{"Inviter": inviter, "Workspace": workspace, "Role": role, "Link": link, "TTL": ttl(valid)})}
}
